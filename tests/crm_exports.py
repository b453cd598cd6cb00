"""Made-up exports of other CRMs for the mapped import's tests (core, CLI, window): shaped
as HubSpot's and Pipedrive's deal exports are documented (their header names, their
stage values, their date and number shapes), written here, copied from nowhere."""

from __future__ import annotations

from support import ADMIN_EMAIL, USER_EMAIL

# HubSpot: internal stage ids, "$" and thousands separators, dates with a time or
# slashed (month first), probability as a fraction, a UTF-8 BOM (Excel's "CSV UTF-8").
HUBSPOT_CSV = (
    "\ufeffRecord ID,Deal Name,Deal Stage,Amount,Close Date,Deal owner,Pipeline,"
    "Deal probability,Deal Description,Patient MRN\r\n"
    f'9001,CT scanner lease – Harbor Heart,appointmentscheduled,"12,500.00",'
    f"2026-03-31 00:00,{USER_EMAIL},Sales Pipeline,0.4,Budget review on Friday,MRN-4471\r\n"
    f"9002,Ultrasound carts,closedwon,$12500,03/31/2026,{ADMIN_EMAIL},Sales Pipeline,1,,\r\n"
    "9003,PACS upgrade,closedlost,12500,2026-04-15,,Sales Pipeline,0,"
    '"Lost to a competitor, on price",\r\n'
    "9004,Infusion pumps (pilot),pilotstage,900.5,,,Sales Pipeline,,,\r\n"
).encode()

# Pipedrive: "Deal - " headers, status open/won/lost beside the stage name, semicolons
# (a European Excel), ISO dates, probability as a whole percent.
PIPEDRIVE_CSV = (
    "Deal - ID;Deal - Title;Deal - Value;Deal - Currency;Deal - Status;Deal - Stage;"
    "Deal - Owner;Deal - Expected close date;Deal - Probability;Deal - Pipeline\r\n"
    f"17;MRI service contract;48000;USD;open;Qualified;{USER_EMAIL};2026-06-30;40;Hospitals\r\n"
    f"18;Sterilizer refurbishment;7,250.00;USD;won;Negotiations Started;{ADMIN_EMAIL};"
    "2026-02-27;100;Hospitals\r\n"
    "19;Lab analyzers;0;USD;lost;Proposal Made;;2026-01-15;0;Hospitals\r\n"
    f"20;Telemetry monitors;31000;USD;open;Lead In;{USER_EMAIL};;25%;Hospitals\r\n"
).encode()

# The stage values the user maps by hand (the others are known: won, lost, HubSpot's
# default stages).
HUBSPOT_STAGES = {"pilotstage": "DRAFT"}
PIPEDRIVE_STAGES = {"open / Qualified": "ACTIVE", "open / Lead In": "DRAFT"}
