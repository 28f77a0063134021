"""The connector framework: the contract, the error tree, field mappings and pagination."""
