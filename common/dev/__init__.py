"""Running the chain locally as deployed: emulators, push subscriptions, function servers."""
