"""Local stand-ins of the hub's systems of record: a cloud finance REST API (``finance``) and a
legacy ERP with a batch file interface (``erp``), each its own process on 127.0.0.1 with its own
sqlite storage, switchable into failure modes (``control``: ``synchub fault ...``)."""
