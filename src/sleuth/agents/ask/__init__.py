"""The short-answer agent: the grounded strategy (code drives the searches, the model makes narrow choices under
a JSON schema) and the ASP tag loop, behind one entry point (`short_answer.ask_short`)."""
