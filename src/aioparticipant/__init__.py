"""aioparticipant."""
