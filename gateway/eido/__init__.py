"""The incident as a NENA EIDO (NENA-STA-021.1b) JSON document, for exchange with other
agencies: `GET /api/v1/incidents/{number}/eido` (`export`), the standard's code lists
(`codes`), its components (`components`), the formats it embeds (`formats`: PIDF-LO, jCard)
and the route's OpenAPI operation (`openapi`)."""
