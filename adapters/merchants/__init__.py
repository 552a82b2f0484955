"""The Merchants API's push document: JobResult, in XML and JSON."""
