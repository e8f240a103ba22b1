"""Quick start: an agent, a chat, a streamed answer, tools added at run time, a stop.

    .venv/bin/python examples/quickstart.py

Without an API key the agent runs on the offline ``local`` provider (deterministic, an
honest stand-in for an LLM: it calls the calculator for arithmetic and says so when it
only echoes). With ``GEMINI_API_KEY`` (or ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) set,
``llm_provider=None`` picks that vendor instead. The README's "Quick start with agents"
shows this file's code.

The local provider calls only the ``calculator``; the two tools added at the end are
offered to the model, and a real model would call them. ``supervision.py`` and
``custom_provider.py`` show custom tools being called.
"""

from gevent import monkey

monkey.patch_all()

import beamlike
import elixirchain as ec


@ec.tool
def word_count(text: str) -> int:
    """Count the words of a text.

    Args:
        text: the text whose words to count.
    """
    return len(text.split())


class MyCustomTool(ec.Tool):
    name = "reverse"
    description = "Reverse a text, character by character."
    parameters = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "the text to reverse"}},
        "required": ["text"],
    }

    def execute(self, args, context):
        return args["text"][::-1]


def main():
    agent = ec.start_agent(
        name="research_assistant",
        system_prompt="You are a research assistant. Use the calculator for arithmetic.",
        tools=["calculator"],
        llm_provider=None,  # "gemini", "openai", "anthropic", "local"; None: by the API key set
        model=None,  # None: the provider's default model
        memory_type="conversation",
    )
    print("provider:", ec.agent_info(agent)["provider"])

    print(ec.chat(agent, "What is 17 * 23?", timeout=60))  # 17 * 23 = 391.

    for chunk in ec.chat_stream(agent, "Write a long report"):  # text as it is generated
        print(chunk, end="", flush=True)
    print()

    print("tools:", ec.add_tool(agent, word_count))  # ['calculator', 'word_count']
    print("tools:", ec.add_tool(agent, MyCustomTool))  # [..., 'reverse', ...]

    ec.stop_agent(agent)
    print("agents left:", ec.list_agents())
    ec.stop()


if __name__ == "__main__":
    beamlike.run(main)
