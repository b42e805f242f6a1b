"""A receiver process for the kill -9 test: takes one message from the queue named in argv
with peek-lock, prints its body, then waits to be killed without settling it."""

import sys
import time

from azure.servicebus import ServiceBusClient

connection, queue = sys.argv[1], sys.argv[2]
with (
    ServiceBusClient.from_connection_string(connection) as client,
    client.get_queue_receiver(queue, max_wait_time=10) as receiver,
):
    (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=10)
    print(str(message), message.locked_until_utc.timestamp(), flush=True)
    time.sleep(600)
