"""The API's infrastructure, shared by every domain and by the workers: the database
(``db``), settings, security (passwords, tokens, keys), the object store (``storage``),
problem+json errors (``problems``), pagination, request bodies (``requests``), request
dependencies (``deps``), logging and metrics (``observability``), the broker's task name
(``tasks``) and the job publisher (``dispatch``), and the served app's pieces (body-size
limit, JSON responses, the garbage collector's settings, the offline API docs)."""
