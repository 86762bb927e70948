// The front desk's list of public requests: confirm (linking a matching patient record) or decline with a reason.
export async function open() {}
