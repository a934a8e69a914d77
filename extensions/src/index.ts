/**
 * workbench-lab: the Workbench in JupyterLab. A left sidebar of runs, models and pipelines;
 * "Run as job" and "Promote pilot..." on the open notebook (toolbar and palette); tabs for a
 * run, a drift report, a dossier and the Panel dashboards. All of it through /workbench/api.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Notification, ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { postAPI } from './api';
import { decideRequest, failure, promotePilot, runAsJob } from './dialogs';
import { DASHBOARDS, WorkbenchSidebar } from './sidebar';
import { viewers } from './viewers';
import iconSvg from '../style/icons/workbench.svg';

const PLUGIN_ID = 'workbench-lab:plugin';

export const workbenchIcon = new LabIcon({ name: 'workbench-lab:icon', svgstr: iconSvg });

export const CommandIDs = {
  runAsJob: 'workbench:run-as-job',
  promotePilot: 'workbench:promote-pilot',
  openSidebar: 'workbench:open-sidebar',
  refresh: 'workbench:refresh',
  openDashboard: 'workbench:open-dashboard'
} as const;

interface Settings {
  trackingUri: string;
  schedulerAddress: string;
  refreshSeconds: number;
}

/** A Run as job and a Promote button on each notebook's toolbar. */
class NotebookButtons implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const commands = this.app.commands;
    const run = new ToolbarButton({
      label: 'Run as job',
      tooltip: 'Run the saved notebook on the Dask cluster as a tracked job',
      onClick: () => void commands.execute(CommandIDs.runAsJob)
    });
    const promote = new ToolbarButton({
      label: 'Promote',
      tooltip: 'Promote a run of this notebook (its pipeline is made on the way)',
      onClick: () => void commands.execute(CommandIDs.promotePilot)
    });
    panel.toolbar.insertItem(10, 'workbench-run-as-job', run);
    panel.toolbar.insertItem(11, 'workbench-promote', promote);
    return new DisposableDelegate(() => {
      run.dispose();
      promote.dispose();
    });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Workbench in JupyterLab: runs, models, pipelines, Run as job, Promote pilot.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const open = (widget: MainAreaWidget): void => {
      const existing = Array.from(app.shell.widgets('main')).find(w => w.id === widget.id);
      if (existing) {
        widget.dispose();
        app.shell.activateById(existing.id);
        return;
      }
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };
    const sidebar = new WorkbenchSidebar(
      {
        openRun: (runId, name) => open(viewers.run(runId, name)),
        openDrift: (runId, model) => open(viewers.drift(runId, model)),
        openDossier: (model, version) => open(viewers.dossier(model, version)),
        openDashboard: name => open(viewers.dashboard(name)),
        openExecuted: runId =>
          void postAPI<{ path: string }>(`jobs/${encodeURIComponent(runId)}/open`, {}).then(
            found => app.commands.execute('docmanager:open', { path: found.path }),
            error => Notification.error(`Cannot open the executed notebook: ${failure(error)}`)
          ),
        decide: (requestId, decision) => decideRequest(requestId, decision)
      },
      5000
    );
    sidebar.title.icon = workbenchIcon;
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, 'workbench-sidebar');

    /** The current notebook, saved (a job runs what is on disk), or null with a message. */
    const savedNotebook = async (): Promise<string | null> => {
      const panel = notebooks.currentWidget;
      if (!panel) {
        Notification.warning('Open a notebook first: Workbench runs and promotes the current notebook.');
        return null;
      }
      await panel.context.ready;
      if (panel.context.model.dirty) {
        await panel.context.save();
      }
      return panel.context.path;
    };
    const withNotebook = (action: (path: string) => Promise<unknown>) => async () => {
      try {
        const path = await savedNotebook();
        if (path !== null && (await action(path))) {
          await sidebar.refresh();
        }
      } catch (error) {
        Notification.error(failure(error));
      }
    };
    const hasNotebook = () => notebooks.currentWidget !== null;

    app.commands.addCommand(CommandIDs.runAsJob, {
      label: 'Workbench: Run as job…',
      caption: 'Run the saved notebook on the Dask cluster through papermill, as a tracked run',
      isEnabled: hasNotebook,
      execute: withNotebook(runAsJob)
    });
    app.commands.addCommand(CommandIDs.promotePilot, {
      label: 'Workbench: Promote pilot…',
      caption: "Promote a run of this notebook: the gates, a reason, the registry's alias",
      isEnabled: hasNotebook,
      execute: withNotebook(promotePilot)
    });
    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Workbench: Show the sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Workbench: Refresh',
      execute: () => sidebar.refresh()
    });
    app.commands.addCommand(CommandIDs.openDashboard, {
      label: args => (args.app ? `Workbench: ${String(args.app)} dashboard` : 'Workbench: Open a dashboard'),
      execute: args => open(viewers.dashboard(String(args.app ?? 'cockpit')))
    });
    if (palette) {
      const category = 'Workbench';
      for (const command of [CommandIDs.runAsJob, CommandIDs.promotePilot, CommandIDs.openSidebar, CommandIDs.refresh]) {
        palette.addItem({ command, category });
      }
      for (const name of DASHBOARDS) {
        palette.addItem({ command: CommandIDs.openDashboard, category, args: { app: name } });
      }
    }
    app.docRegistry.addWidgetExtension('Notebook', new NotebookButtons(app));

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings): void => {
        const found = settings.composite as unknown as Settings;
        sidebar.poller.setInterval(Math.max(1, Number(found.refreshSeconds) || 5) * 1000);
        // where the server's calls go (for every user); empty values change nothing there
        postAPI('config', {
          tracking_uri: found.trackingUri ?? '',
          scheduler_address: found.schedulerAddress ?? ''
        }).then(
          () => sidebar.refresh(),
          error => Notification.error(`Workbench settings were not applied: ${failure(error)}`)
        );
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(error => console.error('workbench-lab: settings not loaded', error));
    }
  }
};

export default plugin;
