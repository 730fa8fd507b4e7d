"""Contact enrichment: the provider Protocol and a waterfall over providers.

- `base`: the single-source `Enricher` (the workspace's `enrichment.csv`, `FileEnricher`);
- `providers`: the `Provider` Protocol, `Person`, segments and answers;
- `http`: a provider described entirely by config (URL template, auth, field mapping, costs);
- `simulated`: offline file-backed providers with hit rates, costs, latency and injected errors;
- `waterfall`: per-field order, stop at the first verified value, cache, error classes,
  provider pauses and the opt-in learned order;
- `store`: the database side (cache with TTL, cost ledger, pauses, per-segment stats).
"""

from tools.enrichment.base import Enricher, EnrichmentResult, FileEnricher

__all__ = ["Enricher", "EnrichmentResult", "FileEnricher"]
