"""Claude in the loop: one client over the anthropic SDK (models per task, versioned
prompts, prompt caching, rate limiting, bounded retries, cost into the ledger, every call
recorded for replay) and the features built on it: the grounded drafter, the research
reader, the reply judge and the planner."""
