"""Adapters against real servers on loopback (a real ComfyUI, PostgreSQL, Redis)."""
