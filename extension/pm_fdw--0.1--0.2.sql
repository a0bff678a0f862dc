-- pm_fdw 0.1 -> 0.2: pm.tier_call, a function of a linked tier run where its data is.
-- A fresh CREATE EXTENSION pm_fdw runs 0.1 and then this script.  Reference: docs/fdw.md.

\echo Use "ALTER EXTENSION pm_fdw UPDATE TO '0.2'" to load this file. \quit

CREATE FUNCTION pm.tier_call(tier text, function text, args text[] DEFAULT '{}')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pm_tier_call' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pm.tier_call(text, text, text[]) IS
  'Runs <tier schema>.<function>(args) in the linked tier''s remote transaction; rows typed by the caller';
-- The link's login decides what the remote may run; locally only what the owner grants.
REVOKE ALL ON FUNCTION pm.tier_call(text, text, text[]) FROM PUBLIC;
