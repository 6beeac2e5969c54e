//! API keys (`api_keys`).
