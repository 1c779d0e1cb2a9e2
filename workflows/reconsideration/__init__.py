"""The office's answers to the applicant: reconsideration (复核) of a decision by another official, and
complaints through the supervision hotline (监督投诉), each a durable case with a deadline."""
