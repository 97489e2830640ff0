"""Generated customer messages with known topics and sub-topics (for the clustering benchmark).

Ten topics of a consumer-lending support inbox, three sub-topics each. A
message is an optional greeting, one of its sub-topic's core sentences (with
amounts, days, products filled in), often a second sentence of the same
topic, sometimes a generic aside, and an optional closing; casing, punctuation
and a few typos vary. Seeded: the same seed gives the same messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: dict[str, dict[str, list[str]]] = {
    "price": {
        "rate_too_high": [
            "the interest rate you offered is way too high",
            "{rate}% interest is too much for me",
            "why is the rate so high, my bank offers {rate_low}%",
            "I can't accept that interest rate, it's abusive",
            "the APR on this loan is higher than I expected",
        ],
        "fees": [
            "there is an opening fee of {amount} that nobody told me about",
            "why are you charging me a {amount} commission",
            "I didn't agree to pay any admin fees",
            "what are all these extra charges on my statement",
            "the insurance fee makes the loan too expensive",
        ],
        "compare_offers": [
            "another lender offered me a better deal, can you match it",
            "can you lower the rate if I take {amount_big} instead",
            "is there any discount if I pay automatically",
            "I got a cheaper offer from my bank, what can you do",
            "will the rate improve if I choose {months} months",
        ],
    },
    "documents": {
        "which_documents": [
            "which documents do I need to apply",
            "what papers do you need from me",
            "do I need proof of income or only my ID",
            "is a utility bill ok as proof of address",
            "what do I need to send to finish the application",
        ],
        "upload_failed": [
            "the app won't let me upload my ID photo",
            "I tried to upload my payslip {times} times and it fails",
            "the document upload keeps giving an error",
            "my selfie verification keeps getting rejected",
            "the file is too big and the upload stops",
        ],
        "documents_sent": [
            "I already sent all my documents {days} days ago",
            "did you receive the bank statements I sent",
            "I uploaded my proof of income, what's next",
            "you asked again for my ID but I sent it already",
            "how long does it take to review my documents",
        ],
    },
    "disbursement": {
        "when_money": [
            "when will the money arrive in my account",
            "my loan was approved {days} days ago and I still have nothing",
            "how long does the transfer take after approval",
            "the money hasn't arrived yet, what's going on",
            "is the deposit instant or does it take days",
        ],
        "wrong_account": [
            "the money went to my old bank account",
            "I gave you the wrong account number for the deposit",
            "can you send the transfer to a different bank",
            "the deposit bounced because my account is closed",
            "please update my account before you send the money",
        ],
        "partial_amount": [
            "I received less than the {amount_big} I was approved for",
            "why did I only get part of the loan",
            "the deposit is missing {amount}",
            "the amount in my account doesn't match the contract",
            "you deducted something from my loan before sending it",
        ],
    },
    "access": {
        "password": [
            "I forgot my password and can't log in",
            "the password reset link doesn't work",
            "I changed my password and now it says it's wrong",
            "how do I reset my password in the app",
            "my account is locked after too many attempts",
        ],
        "sms_code": [
            "I'm not getting the verification code by SMS",
            "the {digits}-digit code never arrives",
            "the code expires before I can type it",
            "I changed my phone number and can't receive the code",
            "the one time password is always invalid",
        ],
        "app_crash": [
            "the app closes every time I open it",
            "the app is stuck on the loading screen",
            "after the update the app crashes on my {phone}",
            "the app shows a blank page when I try to pay",
            "I can't install the app, it says not compatible",
        ],
    },
    "human": {
        "talk_to_agent": [
            "I want to talk to a real person",
            "can a human agent call me please",
            "stop the bot, I need an advisor",
            "connect me with customer service",
            "is there a person I can speak with",
        ],
        "callback": [
            "please call me back at {hour}",
            "an advisor said they would call me and nobody did",
            "call me tomorrow morning, I'm at work now",
            "I missed your call, can you call again",
            "what time will the agent call me",
        ],
        "complaint": [
            "I want to file a complaint about the service",
            "your agent was rude to me on the phone",
            "this is the {times} time I ask and nobody helps",
            "I'm very unhappy with how you handled my case",
            "give me the number of your complaints department",
        ],
    },
    "payments": {
        "due_date": [
            "when is my next payment due",
            "can I move my payment date to the {day_of_month}",
            "I get paid on the {day_of_month}, can the due date change",
            "what day do I have to pay each month",
            "I didn't know the installment was due today",
        ],
        "pay_early": [
            "can I pay off the whole loan early",
            "is there a penalty if I pay before the term",
            "I want to pay {amount} extra this month",
            "how much do I owe to settle the loan today",
            "can I make two payments at once",
        ],
        "late_payment": [
            "I'm going to be late with this month's payment",
            "I lost my job and can't pay the installment",
            "how much is the late fee",
            "can I get a few more days to pay",
            "I paid {days} days late, will it affect my credit",
        ],
    },
    "amount": {
        "want_more": [
            "can I get more than {amount_big}",
            "I need a bigger loan, the offer is too small",
            "why can't you lend me {amount_big}",
            "how can I raise my credit limit",
            "I need at least {amount_big} for my business",
        ],
        "second_loan": [
            "can I take a second loan while I pay this one",
            "I finished paying, can I apply again",
            "when can I ask for a new loan",
            "can I renew my loan for a larger amount",
            "do I qualify for another credit line",
        ],
        "term_length": [
            "can I pay it in {months} months instead",
            "I want a longer term so the installments are lower",
            "what terms do you offer for {amount_big}",
            "is {months} months the maximum",
            "can I shorten the loan to fewer months",
        ],
    },
    "cancel": {
        "not_interested": [
            "I'm not interested anymore, thanks",
            "I already got a loan somewhere else",
            "please stop sending me offers",
            "I changed my mind, I don't need the money",
            "no thanks, maybe another time",
        ],
        "cancel_application": [
            "how do I cancel my application",
            "please cancel the loan request I made",
            "I want to withdraw my application",
            "cancel everything and delete my request",
            "can I cancel after signing the contract",
        ],
        "delete_data": [
            "delete my personal data from your system",
            "I want you to erase my information",
            "unsubscribe me and remove my number",
            "why do you still have my data",
            "I never gave you permission to use my data",
        ],
    },
    "eligibility": {
        "rejected": [
            "why was my application rejected",
            "you denied my loan without explanation",
            "I was declined again, what's the reason",
            "my application says not approved",
            "what can I do after being rejected",
        ],
        "credit_score": [
            "does checking my eligibility hurt my credit score",
            "my credit score is {score}, can I still apply",
            "I have bad credit, do you still lend",
            "which credit bureau do you check",
            "will this loan improve my credit history",
        ],
        "self_employed": [
            "I'm self employed, can I apply",
            "I don't have payslips because I work freelance",
            "I'm a student with part-time income, am I eligible",
            "do you lend to retirees with a pension",
            "I work informally, what proof of income works",
        ],
    },
    "security": {
        "fraud_message": [
            "I got a message asking for my PIN, is it from you",
            "someone called pretending to be your company",
            "is this link you sent me real",
            "I think I received a phishing email in your name",
            "a person asked me to pay {amount} to release my loan",
        ],
        "unknown_loan": [
            "there's a loan in my name that I never asked for",
            "someone used my identity to apply",
            "I don't recognize this debt",
            "you are charging me for a loan I didn't take",
            "my ID was stolen and now I have a loan with you",
        ],
        "account_change": [
            "someone changed my email on the account",
            "I got a notice of a login from {city} that wasn't me",
            "my phone number was changed without my permission",
            "please block my account, it was hacked",
            "I see a payment I didn't make",
        ],
    },
}

GREETINGS = ["", "", "", "hi", "hello", "good morning", "hey", "hi there", "good afternoon"]
CLOSINGS = [
    "",
    "",
    "",
    "thanks",
    "thank you",
    "please help",
    "thanks in advance",
    "regards",
    "asap",
]
ASIDES = [
    "",
    "",
    "",
    "",
    "I've been a customer for {years} years.",
    "I'm writing from my work phone.",
    "My name is {name}.",
    "sorry for my english.",
    "this is urgent.",
    "I already asked yesterday.",
]
NAMES = ["Ana", "Luis", "Maria", "John", "Sofia", "Carlos", "Emma", "Jorge", "Lucia", "Peter"]
CITIES = ["Lima", "Bogota", "Madrid", "Houston", "Quito", "Monterrey", "Miami", "Santiago"]
PHONES = ["iPhone", "Samsung", "Motorola", "Xiaomi", "Huawei", "Pixel"]


@dataclass(frozen=True)
class Message:
    """One generated message and its truth."""

    text: str
    topic: str
    subtopic: str


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        rate=rng.choice([35, 42, 48, 55, 60, 72]),
        rate_low=rng.choice([18, 20, 22, 25]),
        amount=f"${rng.choice([15, 25, 40, 60, 99, 120, 150])}",
        amount_big=f"${rng.choice([1000, 2000, 3500, 5000, 8000, 10000])}",
        months=rng.choice([6, 12, 18, 24, 36, 48]),
        days=rng.choice([2, 3, 4, 5, 7, 10, 15]),
        times=rng.choice(["3", "4", "five", "ten", "third", "fourth"]),
        digits=rng.choice([4, 6]),
        hour=rng.choice(["10am", "noon", "3pm", "5:30", "6pm"]),
        day_of_month=rng.choice(["1st", "5th", "10th", "15th", "20th", "30th"]),
        phone=rng.choice(PHONES),
        score=rng.choice([480, 520, 580, 610, 650]),
        city=rng.choice(CITIES),
        years=rng.choice([1, 2, 3, 5]),
        name=rng.choice(NAMES),
    )


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 12 or rng.random() > 0.25:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # swap two letters


def generate(n: int, seed: int = 7) -> list[Message]:
    """``n`` messages, topics and sub-topics roughly uniform, seeded."""
    rng = random.Random(seed)
    pairs = [(t, s) for t, subs in TOPICS.items() for s in subs]
    out = []
    for _ in range(n):
        topic, sub = rng.choice(pairs)
        core = _fill(rng.choice(TOPICS[topic][sub]), rng)
        parts = [rng.choice(GREETINGS), core]
        if rng.random() < 0.45:  # a second sentence on the same sub-topic
            other = _fill(rng.choice(TOPICS[topic][sub]), rng)
            if other != core:
                parts.append(other)
        parts += [_fill(rng.choice(ASIDES), rng), rng.choice(CLOSINGS)]
        text = ". ".join(p.rstrip(".") for p in parts if p)
        text = text.lower() if rng.random() < 0.4 else text[:1].upper() + text[1:]
        text = _typo(text, rng) + rng.choice(["", "", ".", "!", "?", "..."])
        out.append(Message(text=text, topic=topic, subtopic=f"{topic}.{sub}"))
    return out
