"""Unit tests of the pure logic: `python3 -m unittest` (no component build needed)."""

import unittest

import responder


class ParseKeywords(unittest.TestCase):
    def test_pairs_split_on_semicolons_and_new_lines(self):
        self.assertEqual(
            responder.parse_keywords("Refund = See the policy; hours=9-17\nbad pair;=empty;x="),
            {"refund": "See the policy", "hours": "9-17"},
        )


class Match(unittest.TestCase):
    config = responder.Config(replies={"refund": "r", "opening hours": "h"})

    def test_whole_words_only(self):
        self.assertEqual(responder.match(self.config, "How do I get a REFUND?"), "refund")
        self.assertIsNone(responder.match(self.config, "I was refunded"))

    def test_phrases(self):
        self.assertEqual(responder.match(self.config, "what are the opening  hours"), "opening hours")


class Cooldown(unittest.TestCase):
    def test_cools_down(self):
        self.assertTrue(responder.cooled_down(None, 1000, 500))
        self.assertFalse(responder.cooled_down(b"800", 1000, 500))
        self.assertTrue(responder.cooled_down(b"500", 1000, 500))

    def test_config_round_trips(self):
        config = responder.Config.from_entries({"keywords": "a=b", "cooldown-seconds": "7"})
        self.assertEqual(responder.Config.from_json(config.to_json()), config)


if __name__ == "__main__":
    unittest.main()
