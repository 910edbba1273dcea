"""Text in: checks and splitting into chunks (``checks``), and the F5-TTS text front end that
writes numbers and symbols as words (``normalize``).
"""
