"""Real time: the events mutations publish, their fan-out across instances, and the sockets
whose subscriptions end the moment their session does."""
