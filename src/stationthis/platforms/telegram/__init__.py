"""The Telegram platform: python-telegram-bot in polling or webhook mode (docs/decisions/0012).

``app`` builds the bot from the container, ``handlers`` turn Telegram input into workflow calls,
``render`` turns results into messages and keyboards, ``notifier`` edits status messages and
delivers results at each job's reply address.
"""
