"""Live research on a company's own site: a polite, bounded fetcher (`fetch`), readable text
extraction (`extract`), the page store and cache (`store`) and the researcher that ties them
together (`researcher`)."""
