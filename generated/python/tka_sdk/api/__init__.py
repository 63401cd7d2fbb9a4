# flake8: noqa

# import apis into api package
from tka_sdk.api.alphabet_api import AlphabetApi
from tka_sdk.api.beats_api import BeatsApi
from tka_sdk.api.commands_api import CommandsApi
from tka_sdk.api.events_api import EventsApi
from tka_sdk.api.health_api import HealthApi
from tka_sdk.api.pictures_api import PicturesApi
from tka_sdk.api.sequences_api import SequencesApi
from tka_sdk.api.status_api import StatusApi

