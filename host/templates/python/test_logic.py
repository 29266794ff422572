"""`python3 -m unittest`: tests the logic without building the component."""

import unittest

import logic


class Greeting(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(logic.greeting(["Plaza"]), "Hello, Plaza!")
        self.assertEqual(logic.greeting([]), "Hello!")


if __name__ == "__main__":
    unittest.main()
