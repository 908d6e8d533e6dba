-- 0011: a party's sector (issue 16, market statistics by holder sector): one of the 20 sections A–T of
-- the national industry classification GB/T 4754-2017, by its letter. Optional: parties registered
-- before it have none, and statistics count them under "unclassified". Adding a nullable column with no
-- default rewrites nothing.
ALTER TABLE party ADD COLUMN sector text CHECK (sector IS NULL OR sector IN (
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T'));
