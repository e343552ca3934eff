-- A registration is counted against its address before its hash, in a statement of its own, keyed by a request id:
-- a statement retried after a lost answer finds its id here and does not count twice. A constant default: no rewrite.
ALTER TABLE "rate_limits" ADD COLUMN "recent_hits" uuid[] DEFAULT '{}'::uuid[] NOT NULL;
