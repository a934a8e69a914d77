/**
 * Calls to the Workbench REST API (workbench_lab/rest_api.yml) through Jupyter's own
 * connection settings: its base URL, its token or cookie, its XSRF header.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ApiError, errorMessage } from './apiError';

export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'workbench', 'api', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    // no answer at all: the Jupyter server is down or the network is
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      // the one line below says it
    }
    throw new ApiError(response.status, errorMessage(response.status, text), body);
  }
  return (text ? JSON.parse(text) : null) as T;
}

export function postAPI<T>(endpoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endpoint, { method: 'POST', body: JSON.stringify(body) });
}

/** The URL of a Workbench page outside /api (the dashboards), for an iframe. */
export function pageURL(...parts: string[]): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'workbench', ...parts.map(encodeURIComponent));
}
