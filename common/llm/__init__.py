"""LLM port: providers (OpenAI, Gemini on Vertex AI, local), the rate-limited client, digests."""
