"""One module per openapi.yaml tag; each function is named after its operationId."""
