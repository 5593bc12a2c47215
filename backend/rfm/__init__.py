"""RFM: purchase and engagement Recency / Frequency / Monetary scores per profile, per run."""
