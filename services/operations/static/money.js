// 兜底 doudi: amounts a person types in yuan, read as integer fen. The ONE place the pages turn yuan text
// into fen: string arithmetic only (digits are concatenated, never multiplied as floats), so "1950.00"
// is exactly 195000 and "0.1" + "0.2" never becomes 30.000000000000004.

/** The largest amount the pages send: JavaScript's exact integers (the API's own limits are lower). */
export const MAX_FEN = Number.MAX_SAFE_INTEGER;

const FULL_WIDTH = /[０-９．，]/g;

/** Full-width digits and punctuation (a Chinese input method's "１９５０．００") as ASCII. */
function halfWidth(text) {
  return text.replace(FULL_WIDTH, (c) => (c === '．' ? '.' : c === '，' ? ',' : String.fromCharCode(c.charCodeAt(0) - 0xfee0)));
}

/**
 * Yuan as typed ("1950", "1950.5", "1950.00", "1,950.00", "¥1950", "1950元") -> integer fen.
 * Returns { ok: true, fen } or { ok: false, error } where error is one of
 *   'empty'     nothing typed
 *   'negative'  a minus sign
 *   'decimals'  more than two decimals (分 is the smallest unit)
 *   'format'    anything that is not a plain amount (letters, two points, "1e3", ".5", "1.")
 *   'too_large' beyond the integers JavaScript holds exactly
 */
export function yuanToFen(input) {
  let text = halfWidth(String(input ?? '')).trim();
  text = text.replace(/^[¥￥]\s*/, '').replace(/\s*元$/, '').trim();
  if (text === '') return { ok: false, error: 'empty' };
  if (/^[-−－]/.test(text)) return { ok: false, error: 'negative' };
  if (/^\d{1,3}(,\d{3})+(\.\d*)?$/.test(text)) text = text.replace(/,/g, '');  // "1,950.00": grouping only
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return { ok: false, error: 'format' };
  const [, whole, decimals = ''] = match;
  if (decimals.length > 2) return { ok: false, error: 'decimals' };
  const digits = (whole + decimals.padEnd(2, '0')).replace(/^0+(?=\d)/, '');
  // compared as strings of equal length: no number is formed before it is known to be exact
  const max = String(MAX_FEN);
  if (digits.length > max.length || (digits.length === max.length && digits > max)) {
    return { ok: false, error: 'too_large' };
  }
  return { ok: true, fen: Number(digits) };
}

/** Integer fen -> "1950.00" (what a yuan field shows back); BigInt, never a float. */
export function fenToYuan(fen) {
  if (fen === null || fen === undefined || (!Number.isInteger(fen) && typeof fen !== 'bigint')) return '';
  let v = BigInt(fen);
  const negative = v < 0n;
  if (negative) v = -v;
  return `${negative ? '-' : ''}${v / 100n}.${(v % 100n).toString().padStart(2, '0')}`;
}
