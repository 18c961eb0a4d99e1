"""Text parsers and cleaners shared by collections."""
