"""The serving benchmark's identity model: the predict server's route returning its payload as is."""


def predict(payload):
    return payload
