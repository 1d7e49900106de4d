"""Sources beyond the index: web search (SearXNG or a Tavily-compatible API), its result pages fetched under
the rules of docs/security.md, extracted, chunked and ranked per run like a collection's passages, and web
pages added to a collection (`sleuth index add https://...`).

One module per job: `base` (the provider interface), `searxng` and `tavily` (the providers; `replies`, what
they share), `addresses` and `fetch` (what may be fetched, and how), `extract` (a page's main text), `pages` (a
run's pages), `retriever` (the web as a `Retriever`), `sources` (all of it from settings), `ingest` (pages into
a collection).
"""
