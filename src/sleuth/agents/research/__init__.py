"""The deep-research agent: the LangGraph graph (`graph`, `routing`, `state`, one node per file in `nodes/`),
the citation policy (`policy`), the report model (`report`) and running a run (`run`)."""
