import pytest
from django.test import Client

from tests.factories import api_key_for
from tests.support import Receiver


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    """The fake apps listen on 127.0.0.1; tests of the refusal of such addresses set it off."""
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def admin_api(project):
    return Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})
