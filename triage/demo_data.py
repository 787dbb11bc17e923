"""Demo traffic for `seed_demo`: a RAG refund bot and a tool-using agent, with realistic PII."""

from datetime import timedelta

REFUND_QUESTIONS = [
    (
        "Hi, I'm Maria Gonzalez (maria.gonzalez@example.com). Can I get a refund for order 48213? "
        "I paid with card 4111 1111 1111 1111.",
        "Refunds are not possible for this order.",
    ),
    (
        "This is Tom Becker, phone +1 415-555-0134. I want a refund for order 51877, the shoes don't fit.",
        "Refunds are not possible for this order.",
    ),
    (
        "hello, refund for order 60231 please? my email is j.okafor@example.org",
        "I'm sorry, refunds are not possible for this order.",
    ),
]

REFUND_COMMENTS = [
    "The bot said I can't get a refund for order 48213 but your policy says 30 days. Maria Gonzalez",
    "The bot said I can't get a refund for order 51877 but your policy says 30 days. call me at +1 415-555-0134",
    "The bot said I can't get a refund for order 60231 but your policy says 30 days!!",
    "the bot said i can't get a refund for order 70112 but your policy says 30 days",
]

AGENT_QUESTION = (
    "Where is my package? Order 99120, shipping to Priya Raman, 221B Baker Street. "
    "Reach me at priya.raman@example.net or 020 7946 0958."
)


def refund_trace(index, question, answer, start):
    trace_id = f"demo-refund-{index}"
    t = lambda ms: (start + timedelta(milliseconds=ms)).isoformat()  # noqa: E731
    return trace_id, [
        {
            "id": trace_id,
            "trace_id": trace_id,
            "name": "refund_bot",
            "run_type": "chain",
            "inputs": {"question": question},
            "outputs": {"answer": answer},
            "start_time": t(0),
            "end_time": t(2300),
            "tags": ["refund-bot", "prod"],
            "extra": {"metadata": {"app_version": "2026.11.2"}},
        },
        {
            "id": f"{trace_id}-retrieve",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "policy_search",
            "run_type": "retriever",
            "inputs": {"query": question},
            "outputs": {
                "documents": [
                    {
                        "page_content": "Shipping times: 3-5 business days within the EU.",
                        "metadata": {"source": "shipping.md", "score": 0.41},
                    },
                    {
                        "page_content": "Gift cards cannot be refunded.",
                        "metadata": {"source": "gift-cards.md", "score": 0.38},
                    },
                ]
            },
            "start_time": t(20),
            "end_time": t(310),
        },
        {
            "id": f"{trace_id}-llm",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "gpt-4o-mini",
            "run_type": "llm",
            "inputs": {
                "messages": [
                    {
                        "role": "system",
                        "content": "Answer using only the retrieved policy documents.",
                    },
                    {"role": "user", "content": question},
                ]
            },
            "outputs": {"content": answer, "finish_reason": "stop"},
            "start_time": t(320),
            "end_time": t(2280),
            "prompt_tokens": 412,
            "completion_tokens": 31,
            "total_cost": "0.00008",
        },
    ]


def agent_trace(start):
    trace_id = "demo-agent-1"
    t = lambda ms: (start + timedelta(milliseconds=ms)).isoformat()  # noqa: E731
    return trace_id, [
        {
            "id": trace_id,
            "trace_id": trace_id,
            "name": "support_agent",
            "run_type": "chain",
            "inputs": {"input": AGENT_QUESTION},
            "outputs": {"output": "Your package was delivered yesterday."},
            "start_time": t(0),
            "end_time": t(11800),
        },
        {
            "id": f"{trace_id}-plan",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "claude-sonnet",
            "run_type": "llm",
            "inputs": {"messages": [{"role": "user", "content": AGENT_QUESTION}]},
            "outputs": {"tool_calls": [{"name": "lookup_order", "args": {"order_id": "99120"}}]},
            "start_time": t(10),
            "end_time": t(900),
            "prompt_tokens": 220,
            "completion_tokens": 18,
        },
        {
            "id": f"{trace_id}-tool-1",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "lookup_order",
            "run_type": "tool",
            "inputs": {"order_id": "99120"},
            "error": "TimeoutError: order service did not answer within 5s",
            "start_time": t(910),
            "end_time": t(5910),
        },
        {
            "id": f"{trace_id}-tool-2",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "lookup_order",
            "run_type": "tool",
            "inputs": {"order_id": "99120"},
            "error": "TimeoutError: order service did not answer within 5s",
            "start_time": t(5920),
            "end_time": t(10920),
        },
        {
            "id": f"{trace_id}-answer",
            "trace_id": trace_id,
            "parent_run_id": trace_id,
            "name": "claude-sonnet",
            "run_type": "llm",
            "inputs": {"messages": [{"role": "user", "content": AGENT_QUESTION}]},
            "outputs": {"content": "Your package was delivered yesterday."},
            "start_time": t(10930),
            "end_time": t(11790),
            "prompt_tokens": 260,
            "completion_tokens": 9,
        },
    ]


def feedback_events(now):
    events = []
    for i, comment in enumerate(REFUND_COMMENTS):
        events.append(
            {
                "id": f"demo-fb-refund-{i}",
                "trace_id": f"demo-refund-{i % 3}",
                "rating": "down",
                "category": "billing",
                "comment": comment,
                "customer_tier": ["pro", "enterprise"][i % 2],
                "model_id": "gpt-4o-mini",
                "prompt_hash": "refund-v3",
                "user_id": f"customer-{100 + i}",
                "created_at": (now - timedelta(hours=30 - i * 3)).isoformat(),
            }
        )
    events += [
        {
            "id": "demo-fb-agent-0",
            "trace_id": "demo-agent-1",
            "rating": "down",
            "category": "wrong",
            "comment": "It says delivered but I have nothing. Priya Raman, priya.raman@example.net",
            "customer_tier": "enterprise",
            "model_id": "claude-sonnet",
            "prompt_hash": "agent-v7",
            "created_at": (now - timedelta(hours=20)).isoformat(),
        },
        {
            "id": "demo-fb-unsafe-0",
            "trace_id": "demo-refund-0",
            "rating": "down",
            "category": "unsafe",
            "comment": "The assistant asked me to paste my full card number 5555 5555 5555 4444 into the chat.",
            "customer_tier": "free",
            "model_id": "gpt-4o-mini",
            "prompt_hash": "refund-v3",
            "created_at": (now - timedelta(hours=6)).isoformat(),
        },
        {
            "id": "demo-fb-slow-0",
            "trace_id": "demo-agent-1",
            "score": 0.2,
            "category": "slow",
            "comment": "took 12 seconds to answer",
            "customer_tier": "pro",
            "model_id": "claude-sonnet",
            "created_at": (now - timedelta(hours=4)).isoformat(),
        },
        {
            "id": "demo-fb-up-0",
            "trace_id": "demo-refund-2",
            "rating": "up",
            "comment": "thanks!",
            "created_at": (now - timedelta(hours=2)).isoformat(),
        },
    ]
    return events
