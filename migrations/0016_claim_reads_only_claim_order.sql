-- The claim's reads never sort (issue 17).
--
-- Each of the claim's index ranges (quarry.claim's per-org probe, quarry.claim_org, quarry.claim_candidates) asks for
-- one org's queued jobs in claim order, LIMIT n: jobs_claim_org_idx returns them in that order and stops after n.
-- With statistics taken when the queue was empty (after a drain, until autovacuum analyzes again: quarry.jobs holds
-- a few rows and org_id looks unique, so "one org's jobs" is estimated at one row) every index that starts with
-- org_id costs the same, and the planner picked whichever looked smaller on disk: after a queue of mixed priorities
-- had drained, jobs_claim_org_idx is the more bloated one (its inserts land all over the priority bands), so the
-- claim read the org through jobs_org_created_idx - every row of the org, queued or long finished - and sorted it,
-- on every claim: 150k-450k buffers per claim at 200,000 queued on the bench cluster (auto_explain), the
-- `quarry bench queue --parked-orgs 32 --old-snapshot` drains at 0.17-0.41 of the clean one. (The old snapshot only
-- made it visible: the bench analyzes before each drain, and the first drain's statistics were of an empty table.)
--
-- With sorting off inside these functions the only plans left for each range are the ones that read in claim order
-- (jobs_claim_org_idx, or jobs_claim_idx filtered by org, which costs more for any org estimate): the plan no longer
-- depends on the statistics or on index bloat. The window and ORDER BY of the round-robin ranking have no sorted
-- input to use instead and still sort (enable_sort only penalises a sort the planner can avoid).
-- ClaimContentionTests.aDrainedQueueOfMixedPrioritiesDoesNotMakeAClaimReadTheOrgsHistory.
ALTER FUNCTION quarry.claim(text, text[], integer, boolean, integer) SET enable_sort = off;
ALTER FUNCTION quarry.claim_org(uuid, text[], text[], integer, boolean) SET enable_sort = off;
ALTER FUNCTION quarry.claim_candidates(uuid, text[], integer, integer, timestamptz, uuid, boolean) SET enable_sort = off;
