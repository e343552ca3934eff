-- Contract, after the expand of 0021: the five-argument erase_account of 0017 has had no caller since the code of 0021
-- (which calls the eight-argument one, with its session and credential checks), and that code is now the previous
-- version too. Left in place it is an erasure the API's role may still run without those checks: a privilege no
-- statement uses (test/integration/least-privilege.test.ts compares the role's privileges with an allowlist).
DROP FUNCTION IF EXISTS "erase_account"(integer, integer, uuid, varchar, varchar);
