"""The LLM client: calls with deadlines and retries, the answer journal, the offline generator, the judge."""
