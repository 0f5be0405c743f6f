"""Example handlers used by sermos.yaml.example and the tests."""
