"""The results schema (items.jsonl lines, comparison.json) and its one markdown renderer."""
