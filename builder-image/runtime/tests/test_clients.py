"""Tests of the socket-level defences against slow and refused clients, on real socket pairs."""

import socket
import threading
import time
import unittest

from cortex_s2i_runtime import clients


def pair(test_case):
    server, client = socket.socketpair()
    test_case.addCleanup(server.close)
    test_case.addCleanup(client.close)
    return server, client


class RequestReaderTest(unittest.TestCase):
    def test_a_head_is_complete_at_its_empty_line_and_keeps_what_follows(self):
        server, client = pair(self)
        server.setblocking(False)
        reader = clients.RequestReader(server, 10, 1000)
        client.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\n")
        self.assertFalse(reader.feed())
        client.sendall(b"Content-Length: 2\r\n\r\n[]")
        self.assertTrue(reader.feed())
        self.assertTrue(reader.data.endswith(b"\r\n\r\n[]"))

    def test_a_trickled_head_expires_at_its_total_deadline_whatever_the_pace(self):
        server, client = pair(self)
        server.setblocking(False)
        reader = clients.RequestReader(server, 3, 1000, now=100.0)
        for second in range(3):
            client.send(b"G")
            self.assertFalse(reader.feed())
            self.assertFalse(reader.expired(now=100.0 + second))
        self.assertTrue(reader.expired(now=103.0))

    def test_a_head_over_the_limit_is_handed_on_for_the_parser_to_refuse(self):
        server, client = pair(self)
        server.setblocking(False)
        reader = clients.RequestReader(server, 10, 100)
        client.sendall(b"GET /" + b"a" * 200)
        self.assertTrue(reader.feed())

    def test_a_client_that_closes_first_is_an_eof(self):
        server, client = pair(self)
        server.setblocking(False)
        reader = clients.RequestReader(server, 10, 100)
        client.sendall(b"GET /")
        client.close()
        with self.assertRaises(EOFError):
            reader.feed()
            reader.feed()

    def test_a_body_is_read_within_its_own_deadline_after_the_head(self):
        server, client = pair(self)
        server.setblocking(False)
        granted = []
        reader = clients.RequestReader(server, 3, 1000, 5, 100,
                                       lambda size: granted.append(size) or True, now=100.0)
        client.sendall(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n[1,")
        self.assertFalse(reader.feed(now=102.0))
        self.assertEqual((reader.stage, granted), ("body", [10]))
        self.assertFalse(reader.expired(now=106.0))  # the body's 5 s count from the head
        self.assertTrue(reader.expired(now=107.0))
        client.sendall(b"2,3,4] ")
        self.assertTrue(reader.feed())
        self.assertEqual(reader.release(), 10)

    def test_a_chunked_body_ends_at_its_last_chunk(self):
        server, client = pair(self)
        server.setblocking(False)
        reader = clients.RequestReader(server, 3, 1000, 5, 100, lambda size: True)
        client.sendall(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n")
        self.assertFalse(reader.feed())
        client.sendall(b"0\r\n\r\n")
        self.assertTrue(reader.feed())

    def test_bodies_over_the_limit_or_the_budget_are_not_waited_for(self):
        for head, reserve in ((b"Content-Length: 101", lambda size: True),
                              (b"Content-Length: 10", lambda size: False),
                              (b"Content-Length: 0", lambda size: True),
                              (b"Content-Length: 5\r\nTransfer-Encoding: chunked", lambda s: True),
                              (b"Transfer-Encoding: gzip", lambda size: True)):
            with self.subTest(head=head):
                server, client = pair(self)
                server.setblocking(False)
                reader = clients.RequestReader(server, 3, 1000, 5, 100, reserve)
                client.sendall(b"POST /a HTTP/1.1\r\n" + head + b"\r\n\r\n")
                self.assertTrue(reader.feed())
                self.assertEqual(reader.release(), 0)

    def test_probes_are_get_or_head_of_the_service_paths_only(self):
        self.assertTrue(clients.is_probe(b"GET /health HTTP/1.1\r\n\r\n"))
        self.assertTrue(clients.is_probe(b"HEAD /ready/?x=1 HTTP/1.1\r\n\r\n"))
        self.assertTrue(clients.is_probe(b"get /metrics HTTP/1.0\r\n\r\n"))
        self.assertFalse(clients.is_probe(b"POST /health HTTP/1.1\r\n\r\n"))
        self.assertFalse(clients.is_probe(b"GET /healthy HTTP/1.1\r\n\r\n"))
        self.assertFalse(clients.is_probe(b"GET /m/predict HTTP/1.1\r\n\r\n"))
        self.assertFalse(clients.is_probe(b"garbage\r\n\r\n"))
        self.assertEqual(clients.request_target(b"POST /m/p?debug=1 HTTP/1.1\r\n"),
                         ("POST", "m/p"))


class DeadlineSocketTest(unittest.TestCase):
    def test_reads_share_one_total_deadline(self):
        server, client = pair(self)
        reads = clients.DeadlineSocket(server)
        reads.start(0.6)
        client.send(b"a")
        self.assertEqual(reads.recv(10), b"a")
        started = time.monotonic()
        timers = []
        with self.assertRaises(clients.ClientTimeout) as raised:
            while True:  # a byte every 0.2 s: no single read waits long
                timers.append(threading.Timer(0.2, client.send, (b"b",)))
                timers[-1].start()
                reads.recv(10)
        for timer in timers:
            timer.cancel()
            timer.join()
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(raised.exception.seconds, 0.6)
        self.assertNotIsInstance(raised.exception, OSError)

    def test_without_a_deadline_reads_are_plain(self):
        server, client = pair(self)
        client.send(b"abc")
        self.assertEqual(clients.DeadlineSocket(server).recv(10), b"abc")


class NonBlockingSocketTest(unittest.TestCase):
    def test_stays_non_blocking_and_writes_an_answer_larger_than_the_buffers_in_full(self):
        server, client = pair(self)
        wrapped = clients.NonBlockingSocket(server)
        wrapped.setblocking(True)  # what gunicorn asks before answering: ignored
        self.assertEqual(server.gettimeout(), 0.0)
        with self.assertRaises(BlockingIOError):
            wrapped.recv(10)  # nothing sent yet: the main loop's reads never wait
        answer = bytes(range(256)) * 40000  # 10 MB, far past a socket pair's buffers
        received = bytearray()

        def read_slowly():
            time.sleep(0.2)  # the writer finds the buffers full first
            while len(received) < len(answer):
                chunk = client.recv(65536)
                if not chunk:
                    break
                received.extend(chunk)
        reader = threading.Thread(target=read_slowly)
        reader.start()
        wrapped.sendall(answer)
        reader.join(10)
        self.assertEqual(bytes(received), answer)

    def test_a_deadline_read_on_it_waits_for_the_bytes(self):
        server, client = pair(self)
        reads = clients.DeadlineSocket(clients.NonBlockingSocket(server))
        reads.start(5)
        timer = threading.Timer(0.2, client.send, (b"late",))
        timer.start()
        self.addCleanup(timer.join)
        self.assertEqual(reads.recv(10), b"late")


class LingerTest(unittest.TestCase):
    def test_the_client_reads_the_answer_and_its_end_while_the_rest_is_discarded(self):
        server, client = pair(self)
        server.sendall(b"413 answer")
        linger = clients.Linger(server)
        self.assertTrue(linger.start())
        sent = []

        def send_body():
            client.sendall(b"x" * 3_000_000)  # far more than the socket buffers hold
            sent.append(True)
        sender = threading.Thread(target=send_body)
        sender.start()
        deadline = time.monotonic() + 10
        while not sent and time.monotonic() < deadline:
            linger.feed()
            time.sleep(0.001)
        sender.join(5)
        self.assertEqual(sent, [True])
        self.assertEqual(client.recv(100), b"413 answer")
        self.assertEqual(client.recv(100), b"")  # the server's side is shut
        client.close()
        while not linger.feed():
            time.sleep(0.001)

    def test_lingering_is_bounded_in_bytes_and_time(self):
        server, client = pair(self)
        linger = clients.Linger(server, now=0.0, max_bytes=10, seconds=30, idle_seconds=5)
        linger.start()
        client.send(b"y" * 5)
        self.assertFalse(linger.feed(now=1.0))
        self.assertFalse(linger.expired(now=5.5))  # data at 1.0 moved the idle deadline
        self.assertTrue(linger.expired(now=6.5))
        self.assertTrue(linger.expired(now=30.0))
        client.send(b"y" * 10)
        self.assertTrue(linger.feed(now=2.0))


if __name__ == "__main__":
    unittest.main()
