"""FHIR R4 (4.0.1) for hospitals, patient apps and slot finders: ``routes`` serves, ``resources`` maps."""
