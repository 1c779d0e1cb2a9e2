"""Validation errors in the reader's language: pydantic's English by default, Chinese for a request whose
``Accept-Language`` prefers Chinese (zh, zh-CN, zh-Hans…). Only ``msg`` changes; ``loc`` and ``type``
stay as pydantic gives them, so a program reading the 422 sees the same shape either way.

Messages are keyed by pydantic's error ``type`` (stable across pydantic 2.x), each naming the field;
a type not listed here keeps pydantic's English message behind the Chinese field name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# pydantic error type -> Chinese message; ``{field}`` and the error's ``ctx`` values are filled in.
ZH_MESSAGES: Mapping[str, str] = {
    "missing": "缺少必填字段 {field}",
    "extra_forbidden": "不允许的字段 {field}（接口没有这个字段）",
    "int_parsing": "字段 {field} 须为整数",
    "int_type": "字段 {field} 须为整数",
    "int_from_float": "字段 {field} 须为整数，不能带小数",
    "float_parsing": "字段 {field} 须为数字",
    "float_type": "字段 {field} 须为数字",
    "bool_parsing": "字段 {field} 须为 true 或 false",
    "bool_type": "字段 {field} 须为 true 或 false",
    "string_type": "字段 {field} 须为文本",
    "list_type": "字段 {field} 须为列表",
    "dict_type": "字段 {field} 须为对象",
    "model_type": "字段 {field} 须为对象",
    "model_attributes_type": "字段 {field} 须为对象",
    "greater_than": "字段 {field} 须大于 {gt}",
    "greater_than_equal": "字段 {field} 须大于或等于 {ge}",
    "less_than": "字段 {field} 须小于 {lt}",
    "less_than_equal": "字段 {field} 须小于或等于 {le}",
    "multiple_of": "字段 {field} 须为 {multiple_of} 的倍数",
    "string_too_short": "字段 {field} 至少 {min_length} 个字符",
    "string_too_long": "字段 {field} 最多 {max_length} 个字符",
    "too_short": "字段 {field} 至少 {min_length} 项",
    "too_long": "字段 {field} 最多 {max_length} 项",
    "string_pattern_mismatch": "字段 {field} 格式不正确（须符合 {pattern}）",
    "enum": "字段 {field} 须为以下之一：{expected}",
    "literal_error": "字段 {field} 须为以下之一：{expected}",
    "date_parsing": "字段 {field} 须为日期，格式 YYYY-MM-DD",
    "date_from_datetime_parsing": "字段 {field} 须为日期，格式 YYYY-MM-DD",
    "date_from_datetime_inexact": "字段 {field} 须为日期（不含时刻）",
    "date_type": "字段 {field} 须为日期，格式 YYYY-MM-DD",
    "datetime_parsing": "字段 {field} 须为日期时间（ISO 8601）",
    "datetime_from_date_parsing": "字段 {field} 须为日期时间（ISO 8601）",
    "datetime_type": "字段 {field} 须为日期时间（ISO 8601）",
    "uuid_parsing": "字段 {field} 须为 UUID",
    "uuid_type": "字段 {field} 须为 UUID",
    "json_invalid": "请求体不是有效的 JSON：{error}",
    "json_type": "字段 {field} 须为 JSON",
    "union_tag_invalid": "字段 {field} 的类型 {tag} 不可识别，须为以下之一：{expected_tags}",
    "union_tag_not_found": "字段 {field} 缺少类型标记 {discriminator}",
    "url_parsing": "字段 {field} 须为网址",
    "value_error": "字段 {field}：{error}",
    "assertion_error": "字段 {field}：{error}",
}

_VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")


def prefers_chinese(accept_language: str | None) -> bool:
    """True when the most preferred language the header names is Chinese (q-values honoured; a tie
    goes to the one listed first, as browsers list them)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, position, tag.strip().lower())
    return best is not None and (best[2] == "zh" or best[2].startswith("zh-"))


def field_name(loc: Sequence[Any]) -> str:
    """``body.members.0.id_number`` as ``members[0].id_number``; the request part (body, query, path,
    header) is dropped unless it is all there is."""
    parts = list(loc[1:]) if len(loc) > 1 and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "请求体"


def zh_message(error: Mapping[str, Any]) -> str:
    """The Chinese message for one pydantic error (``exc.errors()`` item)."""
    kind = str(error.get("type", ""))
    field = field_name(error.get("loc") or ())
    ctx = {k: _shown(k, v) for k, v in (error.get("ctx") or {}).items()}
    template = ZH_MESSAGES.get(kind)
    if kind in ("value_error", "assertion_error"):
        ctx["error"] = _own_message(str(error.get("msg", "")))
    if template is None:
        return f"字段 {field}：{error.get('msg', '')}"
    try:
        return template.format(field=field, **ctx)
    except (KeyError, IndexError, ValueError):  # a pydantic version whose ctx lacks a key: still Chinese
        return f"字段 {field}：{error.get('msg', '')}"


def _own_message(msg: str) -> str:
    """Our validators' own (Chinese or bilingual) message, without pydantic's English prefix."""
    for prefix in _VALUE_ERROR_PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def _shown(key: str, value: Any) -> str:
    text = str(value)
    if key in ("expected", "expected_tags"):  # pydantic's lists of choices: 'a', 'b' or 'c'
        return text.replace(" or ", " 或 ")
    return text
