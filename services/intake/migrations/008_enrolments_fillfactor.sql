-- The roster is rewritten set-based every month (the cycle's roll, a raised standard's repricing): leave
-- room in each page so those UPDATEs stay on the page (HOT: no index entry per changed row; no indexed
-- column changes). Applies to pages written from now on.
ALTER TABLE enrolments SET (fillfactor = 50);
