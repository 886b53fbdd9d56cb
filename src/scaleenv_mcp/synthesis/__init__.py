"""From a domain name or a blueprint to generated files: proposers and the code generator."""
