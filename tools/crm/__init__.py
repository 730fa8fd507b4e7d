"""CRM write-back and CRM facts: the Protocol (base), HubSpot and in-memory adapters,
the sync (sync) and the facts read before a send (facts). See docs/crm.md."""
