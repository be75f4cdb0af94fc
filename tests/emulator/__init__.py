import pytest

# clients.py holds asserts shared by the tests (wait_done, unpack, ...): rewritten as in a test module.
pytest.register_assert_rewrite("tests.emulator.clients")
