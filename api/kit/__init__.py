"""The API's infrastructure, shared by every domain: request bodies, ..."""
