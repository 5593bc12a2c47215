"""Push devices (FCM registration tokens) and web push subscriptions, per profile."""
